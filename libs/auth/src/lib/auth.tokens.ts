/** DI token of the `auth` section of the configuration. */
export const AUTH_CONFIG = Symbol('berth.auth.config');
