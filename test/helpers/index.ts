// Test files import from here: one place to find the database, CLI and HTTP helpers.
export * from './cli.js';
export * from './db.js';
export * from './server.js';
export { ROOT } from './template.js';
