import type { StorageDriver } from './storage.driver';
import { PathNotFoundError } from './storage.error';

/** Whether an object is stored at `path`; other storage failures propagate. */
export async function objectExists(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.stat(path);
    return true;
  } catch (error) {
    if (error instanceof PathNotFoundError) return false;
    throw error;
  }
}
