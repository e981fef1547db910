# Install this Ferry bundle with no network.
# Into the active virtual environment, or a new .venv in the current directory.
# $env:PYTHON chooses the interpreter used to create .venv (default: python).
$ErrorActionPreference = "Stop"
$BundleDir = Split-Path -Parent $MyInvocation.MyCommand.Path
$Installer = Join-Path $BundleDir "ferry_install.py"
if ($env:VIRTUAL_ENV) {
    $Py = Join-Path $env:VIRTUAL_ENV "Scripts\python.exe"
} else {
    $Py = Join-Path (Get-Location) ".venv\Scripts\python.exe"
    if (-not (Test-Path $Py)) {
        $Base = if ($env:PYTHON) { $env:PYTHON } else { "python" }
        & $Base $Installer --check
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        & $Base -m venv .venv
        if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    }
}
& $Py $Installer @args
exit $LASTEXITCODE
