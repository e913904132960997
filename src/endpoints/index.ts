// Everything the product connects to besides a plain QMP socket, and the processes it starts (no vscode).
export * from './kinds';
export * from './launcher';
export * from './sandbox';
export * from './storageDaemon';
export * from './guestAgent';
export * from './libvirt';
export * from './stateChanges';
