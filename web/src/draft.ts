/**
 * The files of the tasks made in this page, kept in memory so that "fix the manifests"
 * brings them back to the upload form with the target (a reload forgets them: the server
 * never sends a manifest back).
 */
const uploaded = new Map<string, File[]>();
let pending: File[] | null = null;

export function rememberUpload(taskId: string, files: File[]): void {
  uploaded.set(taskId, files);
}

/** The files a task was made with here, if this page made it. */
export function uploadedFiles(taskId: string): File[] | undefined {
  return uploaded.get(taskId);
}

/** Ask the next upload form to start with the files of ``taskId`` (when still known). */
export function reopenUpload(taskId: string): boolean {
  const files = uploaded.get(taskId);
  pending = files ?? null;
  return files !== undefined;
}

/** The files the upload form starts with, once. */
export function takePendingUpload(): File[] {
  const files = pending ?? [];
  pending = null;
  return files;
}
