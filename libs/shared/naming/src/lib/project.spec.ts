import { projectOf } from './project';

describe('projectOf', () => {
  it('puts a repository in its first segment, or in library', () => {
    expect(projectOf('team/app/api')).toBe('team');
    expect(projectOf('ubuntu')).toBe('library');
  });
});
