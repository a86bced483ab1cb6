import { LoginRateLimiter } from './rate-limiter';

describe('LoginRateLimiter', () => {
  const limits = { windowSeconds: 60, failuresPerAccount: 3, failuresPerAddress: 5 };

  it('refuses an account after its failures, until the window passes', () => {
    const sut = new LoginRateLimiter(limits);
    for (let i = 0; i < 3; i++) sut.fail('alice', `10.0.0.${i}`, 1000);
    expect(sut.check('alice', '10.0.0.9', 1000)).toEqual({ limited: true, retryAfterSeconds: 60 });
    expect(sut.check('ALICE', null, 1000).limited).toBe(true);
    expect(sut.check('bob', '10.0.0.9', 1000)).toEqual({ limited: false });
    expect(sut.check('alice', '10.0.0.9', 61_001)).toEqual({ limited: false });
  });

  it('refuses an address that sprays many accounts', () => {
    const sut = new LoginRateLimiter(limits);
    for (let i = 0; i < 5; i++) sut.fail(`user${i}`, '10.0.0.1', 1000);
    expect(sut.check('someone-else', '10.0.0.1', 2000).limited).toBe(true);
    expect(sut.check('someone-else', '10.0.0.2', 2000).limited).toBe(false);
  });

  it('forgives an account its failures when it signs in, but not its address', () => {
    const sut = new LoginRateLimiter({ ...limits, failuresPerAddress: 3 });
    sut.fail('alice', '10.0.0.1', 1000);
    sut.fail('alice', '10.0.0.1', 1000);
    sut.succeed('alice');
    sut.fail('alice', '10.0.0.1', 1000);
    expect(sut.check('alice', '10.0.0.2', 1000).limited).toBe(false);
    expect(sut.check('bob', '10.0.0.1', 1000).limited).toBe(true);
  });
});
