import { z } from 'zod';
import { EACH, declaredLeaves, env, masked, secret } from './settings.registry';

describe('declaredLeaves', () => {
  it('finds leaves through defaults, optionals, transforms and the items of arrays', () => {
    const schema = z.strictObject({
      port: env('PORT', z.coerce.number().default(1)),
      flag: env(
        'FLAG',
        z.enum(['1', '0']).transform((v) => v === '1'),
      ),
      nested: z.strictObject({ token: secret('TOKEN', z.string().optional()) }).prefault({}),
      hooks: z.array(z.strictObject({ key: secret('HOOK_KEY', z.string()), url: z.url() })).default([]),
      plain: z.string().optional(),
    });

    const sut = declaredLeaves(schema);

    expect(sut).toEqual([
      { env: 'PORT', secret: false, path: ['port'] },
      { env: 'FLAG', secret: false, path: ['flag'] },
      { env: 'TOKEN', secret: true, path: ['nested', 'token'] },
      { env: 'HOOK_KEY', secret: true, path: ['hooks', EACH, 'key'] },
    ]);
  });
});

describe('masked', () => {
  it('masks the strings at a path, in every item of an array, and leaves the rest and the input alone', () => {
    const value = { hooks: [{ key: 'k1', url: 'u1' }, { key: 'k2' }], other: { key: 'k3' } };

    const sut = masked(value, ['hooks', EACH, 'key']);

    expect(sut).toEqual({ hooks: [{ key: '***', url: 'u1' }, { key: '***' }], other: { key: 'k3' } });
    expect(value.hooks[0]?.key).toBe('k1');
    expect(masked({ nested: {} }, ['nested', 'token'])).toEqual({ nested: {} });
  });
});
