// The first module of the extension bundle (extension.ts imports it first): stamps when evaluation began.
(globalThis as { __qmpNotebookLoadStart?: number }).__qmpNotebookLoadStart = performance.now();

export {};
