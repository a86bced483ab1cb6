import { matchesGlob } from './glob';

describe('matchesGlob', () => {
  it('matches globs by segment', () => {
    expect(matchesGlob('team/*', 'team/app')).toBe(true);
    expect(matchesGlob('team/*', 'team/app/api')).toBe(false);
    expect(matchesGlob('team/**', 'team/app/api')).toBe(true);
    expect(matchesGlob('team/a.b', 'team/axb')).toBe(false);
  });
});
