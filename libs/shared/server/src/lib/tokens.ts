/** DI token of the validated `BerthConfig`. */
export const CONFIG = Symbol('berth.config');
/** DI token of the process's pino `Logger`. */
export const LOGGER = Symbol('berth.logger');
/** DI token of the `StorageDriver`. */
export const STORAGE = Symbol('berth.storage');
