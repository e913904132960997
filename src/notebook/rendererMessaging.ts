// The extension's side of the reply renderer (src/render/webview): the webview cannot write files and may lack
// the clipboard, so it asks here to save a block graph as an SVG file (a save dialog, then an atomic write) or to
// copy a text. Messages are checked (shape and size) before anything is done with them.
import * as vscode from 'vscode';
import { writeAtomically } from '../session/writeAtomically';

/** The renderer's id in package.json (contributes.notebookRenderer). */
export const replyRendererId = 'qmp-notebook.reply';

/** More than this is not a diagram we drew: refused. */
const MAX_TEXT = 16 * 1024 * 1024;

export function registerRendererMessaging(): vscode.Disposable {
  const messaging = vscode.notebooks.createRendererMessaging(replyRendererId);
  return messaging.onDidReceiveMessage(async ({ message }) => {
    if (typeof message !== 'object' || message === null) return;
    const m = message as { type?: unknown; svg?: unknown; text?: unknown };
    if (m.type === 'copy' && typeof m.text === 'string' && m.text.length <= MAX_TEXT) {
      await vscode.env.clipboard.writeText(m.text);
    } else if (m.type === 'saveSvg' && typeof m.svg === 'string' && m.svg.length <= MAX_TEXT && m.svg.startsWith('<svg')) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const target = await vscode.window.showSaveDialog({
        title: 'Save the block graph as SVG',
        filters: { SVG: ['svg'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, 'block-graph.svg') } : {}),
      });
      if (!target) return;
      try {
        await writeAtomically(target, m.svg);
      } catch (err) {
        void vscode.window.showErrorMessage(`Could not save the SVG: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  });
}
