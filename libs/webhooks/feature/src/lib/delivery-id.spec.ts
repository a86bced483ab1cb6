import { deliveryId } from './delivery.repository';

describe('deliveryId', () => {
  it('is an RFC 9562 version 8 UUID, the same whenever the same event is routed to the same subscription', () => {
    const id = deliveryId('subscription-1', 'event-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(deliveryId('subscription-1', 'event-1')).toBe(id);
  });

  it('differs for another subscription or another event', () => {
    const ids = new Set([
      deliveryId('subscription-1', 'event-1'),
      deliveryId('subscription-2', 'event-1'),
      deliveryId('subscription-1', 'event-2'),
    ]);
    expect(ids.size).toBe(3);
  });
});
