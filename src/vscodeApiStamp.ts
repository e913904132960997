// Imported first by extension.ts: loads the `vscode` API module (the extension host builds the API object for this
// extension on its first require) and stamps the time, so that activation can tell VS Code's part from ours.
import 'vscode';

(globalThis as { __qmpNotebookApiLoaded?: number }).__qmpNotebookApiLoaded = performance.now();
