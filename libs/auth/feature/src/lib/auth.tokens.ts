/** DI token of the `auth` section of the configuration. */
export const AUTH_CONFIG = Symbol('berth.auth.config');

/** DI token of the OpenID Connect login (`OidcLoginService`), or null when `auth.oidc` is unset. */
export const OIDC_LOGIN = Symbol('berth.auth.oidc-login');
