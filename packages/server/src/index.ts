/**
 * @vigil/server: the self-hosted fleet server.
 */
export {};
