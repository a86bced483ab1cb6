import { EventTypeError, isWebhookEventType, parseEventTypes, WEBHOOK_EVENT_TYPES } from './event';

describe('webhook event types', () => {
  it('lists the twelve event types of the API, each once', () => {
    expect(WEBHOOK_EVENT_TYPES).toHaveLength(12);
    expect(new Set(WEBHOOK_EVENT_TYPES).size).toBe(12);
    expect(WEBHOOK_EVENT_TYPES).toContain('artifact.pushed');
    expect(WEBHOOK_EVENT_TYPES).toContain('replication.finished');
  });

  it('recognizes event type names exactly', () => {
    expect(isWebhookEventType('tag.deleted')).toBe(true);
    expect(isWebhookEventType('Tag.Deleted')).toBe(false);
    expect(isWebhookEventType('tag')).toBe(false);
    expect(isWebhookEventType('PUSH_ARTIFACT')).toBe(false);
  });
});

describe('parseEventTypes', () => {
  it('accepts known names and keeps their order', () => {
    const sut = parseEventTypes(['artifact.pushed', 'tag.deleted', 'scan.failed']);
    expect(sut).toEqual(['artifact.pushed', 'tag.deleted', 'scan.failed']);
  });

  it('drops duplicates, keeping the first', () => {
    expect(parseEventTypes(['tag.deleted', 'artifact.pushed', 'tag.deleted'])).toEqual([
      'tag.deleted',
      'artifact.pushed',
    ]);
  });

  it('names the unknown entries and lists every valid type', () => {
    let error: unknown;
    try {
      parseEventTypes(['artifact.pushed', 'artifact.pushd', 'push']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EventTypeError);
    const sut = error as EventTypeError;
    expect(sut.unknown).toEqual(['"artifact.pushd"', '"push"']);
    expect(sut.message).toContain('unknown event types "artifact.pushd", "push"');
    for (const type of WEBHOOK_EVENT_TYPES) expect(sut.message).toContain(type);
  });

  it('says what a non-string entry was without echoing it', () => {
    expect(() => parseEventTypes(['artifact.pushed', 42, null])).toThrow(
      /unknown event types a number, a null; valid types are/,
    );
  });

  it.each([
    ['a string', 'artifact.pushed'],
    ['an object', { 'artifact.pushed': true }],
    ['null', null],
    ['undefined', undefined],
  ])('refuses %s instead of an array', (_label, value) => {
    expect(() => parseEventTypes(value)).toThrow(EventTypeError);
  });

  it('refuses an empty list, which would subscribe to nothing', () => {
    expect(() => parseEventTypes([])).toThrow('events must name at least one event type');
  });

  it('cuts long unknown names short in the message', () => {
    expect(() => parseEventTypes(['x'.repeat(10_000)])).toThrow(`unknown event type "${'x'.repeat(100)}";`);
  });
});
