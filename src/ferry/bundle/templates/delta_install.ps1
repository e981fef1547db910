# This is a delta bundle (ferry bundle --exclude-present): it leaves out the packages the
# far side's Ferry said it holds already, so it cannot install on its own.
[Console]::Error.WriteLine("ferry: this is a delta bundle: it carries only what the far side's registries lacked.")
[Console]::Error.WriteLine("ferry: import it there (ferry import) and install from those registries, or make a full bundle (without --exclude-present).")
exit 3
