/**
 * Who the signed-in token is (`GET /api/tokens/me`), so that a page offers only what its
 * role allows: `undefined` while asking, `null` when it could not be learnt (an older
 * server, a network error: the page then offers everything and shows the server's
 * refusal).
 */
import { useEffect, useState } from 'react';
import { whoAmI } from '../api/client';
import type { Package, TokenSelf } from '../api/client';

export function useMe(): TokenSelf | null | undefined {
  const [me, setMe] = useState<TokenSelf | null | undefined>(undefined);
  useEffect(() => {
    const ctrl = new AbortController();
    whoAmI(ctrl.signal).then(setMe, (err: unknown) => {
      if (!(err instanceof DOMException && err.name === 'AbortError')) setMe(null);
    });
    return () => ctrl.abort();
  }, []);
  return me;
}

/** May this token upload? Unknown: yes, and the server says otherwise if it must. */
export function mayUpload(me: TokenSelf | null | undefined): boolean {
  return me === null || (me !== undefined && me.role !== 'read');
}

/** May this token delete the package? An admin any, a writer its owner's (as the server
 * decides in `store/packages.py`); unknown: yes, and a refusal is shown. */
export function mayDelete(me: TokenSelf | null | undefined, pkg: Pick<Package, 'owner'>): boolean {
  if (me === undefined) return false;
  if (me === null) return true;
  return me.role === 'admin' || (me.role === 'write' && me.owner === pkg.owner);
}
