#!/bin/sh
# This is a delta bundle (ferry bundle --exclude-present): it leaves out the packages the
# far side's Ferry said it holds already, so it cannot install on its own.
echo "ferry: this is a delta bundle: it carries only what the far side's registries lacked." >&2
echo "ferry: import it there (ferry import $(basename -- "$(dirname -- "$0")")...) and install" >&2
echo "ferry: from those registries, or make a full bundle (without --exclude-present)." >&2
exit 3
