/**
 * What the chosen files declare, asked of the server as soon as they change (after a
 * short pause, the earlier question cancelled): the groups and extras the upload form
 * offers, and the files that cannot be read. Until it answers, or when it cannot (an
 * older server), `groups` is null and the form lets the user type names as before.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { declaredGroups } from '../api/client';
import type { DeclaredGroup, TaskError } from '../api/client';

export interface DeclaredState {
  groups: DeclaredGroup[] | null;
  errors: TaskError[];
  onFilesChange: (files: File[]) => void;
}

export function useDeclared(delayMs = 250): DeclaredState {
  const [files, setFiles] = useState<File[]>([]);
  const [groups, setGroups] = useState<DeclaredGroup[] | null>(null);
  const [errors, setErrors] = useState<TaskError[]>([]);
  const last = useRef<string>('');

  const onFilesChange = useCallback((next: File[]) => {
    // the same files again (a re-render) ask nothing new
    const key = next.map((f) => `${f.name}:${f.size}:${f.lastModified}`).join('|');
    if (key === last.current) return;
    last.current = key;
    setFiles(next);
  }, []);

  useEffect(() => {
    if (files.length === 0) {
      setGroups(null);
      setErrors([]);
      return undefined;
    }
    const abort = new AbortController();
    const timer = window.setTimeout(() => {
      declaredGroups(files, abort.signal)
        .then((doc) => {
          setGroups(doc.groups);
          setErrors(doc.errors);
        })
        .catch(() => {
          if (abort.signal.aborted) return;
          setGroups(null);
          setErrors([]);
        });
    }, delayMs);
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
  }, [files, delayMs]);

  return { groups, errors, onFilesChange };
}
