import { hashSecret, verifySecret } from './secret';

describe('secrets', () => {
  it('verifies the right secret and refuses another, with a fresh salt each time', async () => {
    const hash = await hashSecret('correct horse');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/);
    await expect(verifySecret('correct horse', hash)).resolves.toBe(true);
    await expect(verifySecret('correct horsf', hash)).resolves.toBe(false);
    expect(await hashSecret('correct horse')).not.toBe(hash);
  });

  it.each(['', 'plain', 'scrypt$0$8$1$a$b', 'scrypt$99999999999$8$1$a$b', 'bcrypt$x'])(
    'refuses a stored value that is not a valid hash: %j',
    async (stored) => {
      await expect(verifySecret('x', stored)).resolves.toBe(false);
    },
  );
});
