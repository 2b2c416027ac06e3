// The one place @peculiar/x509 is imported from. It resolves its services
// through tsyringe, which needs the Reflect metadata polyfill loaded first
// (ES modules evaluate their imports in order).
// NOTE: reflect-metadata is currently installed only as a dependency of
// @simplewebauthn/server; it should be a direct dependency in package.json.

import 'reflect-metadata';

export * from '@peculiar/x509';
