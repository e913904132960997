// Volatile values and masks live with the engine (src/run/masks.ts): expected events written in cells are
// compared there, masked as saved outputs are.
export * from '../run/masks';
