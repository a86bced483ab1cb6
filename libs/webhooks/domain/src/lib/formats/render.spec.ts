import { CONTEXT, webhookEvent } from '../../testing/events';
import { WEBHOOK_EVENT_TYPES } from '../event';
import { sign, verifyWebhook } from '../signing';
import {
  formatSupports,
  parseWebhookFormat,
  render,
  UnsupportedEventError,
  WEBHOOK_FORMATS,
  WebhookFormatError,
} from './render';

describe('render', () => {
  it('renders each format with its content type', () => {
    const event = webhookEvent();
    expect(render(event, 'default', CONTEXT).contentType).toBe('application/json');
    expect(render(event, 'cloudevents', CONTEXT).contentType).toBe('application/cloudevents+json');
    expect(render(event, 'distribution', CONTEXT).contentType).toBe(
      'application/vnd.docker.distribution.events.v2+json',
    );
  });

  it('renders compact JSON of the format', () => {
    const sut = render(webhookEvent(), 'default', CONTEXT);
    expect(sut.body).toBe(JSON.stringify(JSON.parse(sut.body)));
    expect(JSON.parse(sut.body)).toMatchObject({ type: 'PUSH_ARTIFACT', operator: 'alice' });
    expect(JSON.parse(render(webhookEvent(), 'cloudevents', CONTEXT).body)).toMatchObject({
      specversion: '1.0',
    });
    expect(JSON.parse(render(webhookEvent(), 'distribution', CONTEXT).body)).toMatchObject({
      events: [{ action: 'push' }],
    });
  });

  it('renders every supported pair of format and event type, and refuses the others', () => {
    for (const format of WEBHOOK_FORMATS) {
      for (const type of WEBHOOK_EVENT_TYPES) {
        const event = webhookEvent({ type });
        if (formatSupports(format, type)) {
          expect(() => JSON.parse(render(event, format, CONTEXT).body) as unknown).not.toThrow();
        } else {
          expect(() => render(event, format, CONTEXT)).toThrow(UnsupportedEventError);
        }
      }
    }
  });

  it('says which format and event type did not fit', () => {
    let error: unknown;
    try {
      render(webhookEvent({ type: 'scan.completed' }), 'distribution', CONTEXT);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error).toMatchObject({
      format: 'distribution',
      eventType: 'scan.completed',
      message: 'the distribution format has no way to express scan.completed events',
    });
  });

  it('produces a body that, signed and sent as is, verifies', () => {
    const secret = 'whsec_' + Buffer.alloc(32, 5).toString('base64');
    const { body } = render(webhookEvent(), 'cloudevents', CONTEXT);
    const headers = sign({ id: 'delivery-1', timestamp: 1714564800, body, secrets: [secret] });
    const now = new Date(1714564800 * 1000);
    expect(verifyWebhook({ headers, body: Buffer.from(body), secrets: secret, now })).toEqual({
      ok: true,
      id: 'delivery-1',
      timestamp: 1714564800,
    });
  });
});

describe('formatSupports', () => {
  it('supports every event type in the default and CloudEvents formats', () => {
    for (const type of WEBHOOK_EVENT_TYPES) {
      expect(formatSupports('default', type)).toBe(true);
      expect(formatSupports('cloudevents', type)).toBe(true);
    }
  });

  it('supports only pushes, pulls and deletions in the Distribution format', () => {
    const supported = WEBHOOK_EVENT_TYPES.filter((type) => formatSupports('distribution', type));
    expect(supported).toEqual([
      'artifact.pushed',
      'artifact.pulled',
      'artifact.deleted',
      'tag.created',
      'tag.deleted',
      'repository.deleted',
    ]);
  });
});

describe('parseWebhookFormat', () => {
  it('reads the three formats, and an absent one as default', () => {
    expect(parseWebhookFormat('default')).toBe('default');
    expect(parseWebhookFormat('cloudevents')).toBe('cloudevents');
    expect(parseWebhookFormat('distribution')).toBe('distribution');
    expect(parseWebhookFormat(undefined)).toBe('default');
  });

  it.each(['harbor', 'CloudEvents', '', null, 3])('refuses %p and lists the valid formats', (value) => {
    expect(() => parseWebhookFormat(value)).toThrow(WebhookFormatError);
    expect(() => parseWebhookFormat(value)).toThrow(
      'format must be one of: default, cloudevents, distribution',
    );
  });
});
