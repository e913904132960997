// The public surface of the protocol core. Other layers import from here only.
export * from './errors';
export * from './wire';
export * from './framing';
export * from './transport';
export * from './client';
export * from './channel';
export * from './dialect';
export * from './events';
export * from './introspect';
export * from './schema';
