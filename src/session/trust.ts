// Workspace trust: in an untrusted workspace nothing connects, launches QEMU or runs a cell.
import * as vscode from 'vscode';

/** Thrown by every action that would reach a QEMU from an untrusted workspace. */
export class UntrustedWorkspaceError extends Error {
  constructor(action: string) {
    super(`${action} is disabled because this workspace is not trusted. Trust the workspace to use QEMU from it.`);
    this.name = 'UntrustedWorkspaceError';
  }
}

export const manageTrustLabel = 'Manage Workspace Trust';

/** Throws UntrustedWorkspaceError when the workspace is not trusted. */
export function requireTrust(action: string): void {
  if (!vscode.workspace.isTrusted) throw new UntrustedWorkspaceError(action);
}

/**
 * Tells the user why an action was refused, with a button that opens the trust editor. The message is not
 * awaited by callers that must fail at once (a cell run), so it returns the promise for those that care.
 */
export async function explainUntrusted(err: UntrustedWorkspaceError): Promise<void> {
  const choice = await vscode.window.showWarningMessage(err.message, manageTrustLabel);
  if (choice === manageTrustLabel) await vscode.commands.executeCommand('workbench.trust.manage');
}
