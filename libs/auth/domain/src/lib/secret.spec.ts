import { hashGeneratedSecret, hashSecret, verifySecret } from './secret';

describe('secrets', () => {
  it('verifies the right secret and refuses another, with a fresh salt each time', async () => {
    const hash = await hashSecret('correct horse');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/);
    await expect(verifySecret('correct horse', hash)).resolves.toBe(true);
    await expect(verifySecret('correct horsf', hash)).resolves.toBe(false);
    expect(await hashSecret('correct horse')).not.toBe(hash);
  });

  it('hashes generated secrets with a salted HMAC that verifySecret also checks', async () => {
    const hash = hashGeneratedSecret('robot-secret');
    expect(hash).toMatch(/^hmac-sha256\$[\w-]{22}\$[\w-]{43}$/);
    await expect(verifySecret('robot-secret', hash)).resolves.toBe(true);
    await expect(verifySecret('robot-secreT', hash)).resolves.toBe(false);
    expect(hashGeneratedSecret('robot-secret')).not.toBe(hash);
  });

  it('answers every one of many concurrent checks (derivations queue, none is lost)', async () => {
    const hash = await hashSecret('queued');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => verifySecret(i % 2 === 0 ? 'queued' : 'other', hash)),
    );
    expect(answers).toEqual([true, false, true, false, true, false]);
  });

  it.each(['', 'plain', 'scrypt$0$8$1$a$b', 'scrypt$99999999999$8$1$a$b', 'bcrypt$x', 'hmac-sha256$a'])(
    'refuses a stored value that is not a valid hash: %j',
    async (stored) => {
      await expect(verifySecret('x', stored)).resolves.toBe(false);
    },
  );
});
