// The JSON syntax tree lives with the engine (src/run/jsonTree.ts), which compares expected events with it.
export * from '../run/jsonTree';
