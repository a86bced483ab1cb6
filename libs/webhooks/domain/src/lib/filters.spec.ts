import { webhookEvent } from '../testing/events';
import { FilterError, matchesSubscription, MAX_GLOBS, parseGlobs, type SubscriptionFilter } from './filters';

const event = webhookEvent;

const PUSHES: SubscriptionFilter = { events: ['artifact.pushed'] };

describe('matchesSubscription', () => {
  it('matches on the event type alone when no globs are set', () => {
    expect(matchesSubscription(event(), PUSHES)).toBe(true);
    expect(matchesSubscription(event({ type: 'artifact.pulled' }), PUSHES)).toBe(false);
    expect(
      matchesSubscription(event({ type: 'artifact.pulled' }), { events: ['tag.deleted', 'artifact.pulled'] }),
    ).toBe(true);
  });

  it('treats empty glob lists as no filter', () => {
    expect(matchesSubscription(event({ tag: null }), { ...PUSHES, repositories: [], tags: [] })).toBe(true);
  });

  it('matches repository globs against the full name, project prefix included', () => {
    expect(matchesSubscription(event(), { ...PUSHES, repositories: ['team/app'] })).toBe(true);
    expect(matchesSubscription(event(), { ...PUSHES, repositories: ['team/*'] })).toBe(true);
    expect(matchesSubscription(event(), { ...PUSHES, repositories: ['app'] })).toBe(false);
    expect(matchesSubscription(event(), { ...PUSHES, repositories: ['*'] })).toBe(false);
  });

  it('lets * stay within a segment and ** cross segments', () => {
    const nested = event({ repository: 'team/app/api' });
    expect(matchesSubscription(nested, { ...PUSHES, repositories: ['team/*'] })).toBe(false);
    expect(matchesSubscription(nested, { ...PUSHES, repositories: ['team/**'] })).toBe(true);
    expect(matchesSubscription(nested, { ...PUSHES, repositories: ['team/*/api'] })).toBe(true);
    expect(matchesSubscription(nested, { ...PUSHES, repositories: ['**/api'] })).toBe(true);
  });

  it('needs any one of several globs to match', () => {
    const filter = { ...PUSHES, repositories: ['other/*', 'team/app'] };
    expect(matchesSubscription(event(), filter)).toBe(true);
    expect(matchesSubscription(event({ repository: 'team/web' }), filter)).toBe(false);
  });

  it('takes glob characters other than * literally', () => {
    expect(
      matchesSubscription(event({ repository: 'team/appxb' }), { ...PUSHES, repositories: ['team/app.b'] }),
    ).toBe(false);
  });

  it('matches tag globs against the tag', () => {
    expect(matchesSubscription(event(), { ...PUSHES, tags: ['v1.*'] })).toBe(true);
    expect(matchesSubscription(event(), { ...PUSHES, tags: ['v2.*', 'latest'] })).toBe(false);
    expect(matchesSubscription(event({ tag: 'latest' }), { ...PUSHES, tags: ['v2.*', 'latest'] })).toBe(true);
  });

  it('does not match an event without a tag when tag globs are set', () => {
    expect(matchesSubscription(event({ tag: null }), { ...PUSHES, tags: ['*'] })).toBe(false);
    const deleted = event({ type: 'repository.deleted', tag: null, digest: null });
    expect(matchesSubscription(deleted, { events: ['repository.deleted'], tags: ['**'] })).toBe(false);
    expect(matchesSubscription(deleted, { events: ['repository.deleted'] })).toBe(true);
  });

  it('needs the type, a repository glob and a tag glob to match together', () => {
    const filter: SubscriptionFilter = {
      events: ['artifact.pushed'],
      repositories: ['team/**'],
      tags: ['v*'],
    };
    expect(matchesSubscription(event(), filter)).toBe(true);
    expect(matchesSubscription(event({ tag: 'latest' }), filter)).toBe(false);
    expect(matchesSubscription(event({ repository: 'other/app' }), filter)).toBe(false);
    expect(matchesSubscription(event({ type: 'tag.created' }), filter)).toBe(false);
  });
});

describe('parseGlobs', () => {
  it('leaves an absent field unset', () => {
    expect(parseGlobs('repositories', undefined)).toBeUndefined();
    expect(parseGlobs('tags', undefined)).toBeUndefined();
  });

  it('accepts repository names and tags in which * may stand anywhere, dropping duplicates', () => {
    expect(
      parseGlobs('repositories', ['team/app', 'team/*', 'team/**', 'team/app-*/api', '*', 'team/app']),
    ).toEqual(['team/app', 'team/*', 'team/**', 'team/app-*/api', '*']);
    expect(parseGlobs('tags', ['v1.*', 'latest', '*-rc', 'release_*', '*'])).toEqual([
      'v1.*',
      'latest',
      '*-rc',
      'release_*',
      '*',
    ]);
  });

  it.each([
    ['upper case', 'Team/app'],
    ['an empty segment', 'team//app'],
    ['a leading slash', '/team/app'],
    ['a trailing slash', 'team/'],
    ['a ? wildcard', 'team/app?'],
    ['a character class', 'team/[ab]pp'],
    ['a space', 'team/my app'],
    ['an empty glob', ''],
    ['too many characters', 'a/'.repeat(128) + 'a'],
  ])('refuses a repository glob with %s', (_label, glob) => {
    expect(() => parseGlobs('repositories', [glob])).toThrow(FilterError);
  });

  it.each([
    ['a leading dot', '.hidden'],
    ['a leading dash', '-rc'],
    ['a slash', 'v1/beta'],
    ['a colon', 'v1:beta'],
    ['129 characters', 'v'.repeat(129)],
    ['an empty glob', ''],
  ])('refuses a tag glob with %s', (_label, glob) => {
    expect(() => parseGlobs('tags', [glob])).toThrow(FilterError);
  });

  it('names the field and the glob in its message', () => {
    expect(() => parseGlobs('repositories', ['team/App'])).toThrow('"team/App" is not a repository glob');
    expect(() => parseGlobs('tags', ['v1/x'])).toThrow('"v1/x" is not a tag glob');
  });

  it('refuses a non-array, non-string entries and more than the maximum', () => {
    expect(() => parseGlobs('tags', 'v1.*')).toThrow('tags must be an array of globs');
    expect(() => parseGlobs('repositories', [42])).toThrow('repositories must hold only strings');
    const many = Array.from({ length: MAX_GLOBS + 1 }, (_, i) => `v${i}`);
    expect(() => parseGlobs('tags', many)).toThrow(`tags may hold at most ${MAX_GLOBS} globs`);
  });
});
