// The kernel: one per open connection (see kernel.ts), the endpoint description and the one opener.
export * from './endpoint';
export * from './open';
export * from './kernel';
