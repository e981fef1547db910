# Install this Ferry bundle with no network:  .\install.ps1 [PROJECT_DIR] [pip options]
# PROJECT_DIR defaults to the current directory.
#   Python packages: into the active virtual environment, else PROJECT_DIR\.venv
#                    ($env:PYTHON chooses the interpreter that creates it; default: python).
#   npm packages:    npm ci --offline in PROJECT_DIR; $env:FERRY_NPM_SCRIPTS=1 runs scripts.
# Exit codes: 3 wrong machine for this bundle, 4 damaged bundle, 5 install failed.
$ErrorActionPreference = "Stop"
$BundleDir = Split-Path -Parent $MyInvocation.MyCommand.Path
$Project = if ($args.Count -gt 0) { $args[0] } else { "." }
$Rest = if ($args.Count -gt 1) { $args[1..($args.Count - 1)] } else { @() }
New-Item -ItemType Directory -Force -Path $Project | Out-Null
$Project = (Resolve-Path $Project).Path

# Check every byte before anything is installed.
$Damaged = @()
foreach ($Line in Get-Content (Join-Path $BundleDir "SHA256SUMS")) {
    $Digest, $Name = $Line -split "  ", 2
    $File = Join-Path $BundleDir $Name
    if (-not (Test-Path $File)) { $Damaged += "${Name}: missing"; continue }
    $Actual = (Get-FileHash -Algorithm SHA256 $File).Hash.ToLower()
    if ($Actual -ne $Digest) { $Damaged += "${Name}: sha256 $Actual != $Digest" }
}
if ($Damaged.Count -gt 0) {
    Write-Error ("ferry: the bundle is damaged:`n  " + ($Damaged -join "`n  ")) -ErrorAction Continue
    exit 4
}
$env:FERRY_VERIFIED = "1"

$HasPy = Test-Path (Join-Path $BundleDir "python-packages")
$HasNpm = Test-Path (Join-Path $BundleDir "npm-packages")
if ($HasNpm) {
    if (-not (Get-Command node -ErrorAction SilentlyContinue)) {
        Write-Error "ferry: this bundle carries npm packages but node is not installed" -ErrorAction Continue
        exit 3
    }
    & node (Join-Path $BundleDir "ferry_npm.js") --check
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
if ($HasPy) {
    $Installer = Join-Path $BundleDir "ferry_install.py"
    if ($env:VIRTUAL_ENV) {
        $Py = Join-Path $env:VIRTUAL_ENV "Scripts\python.exe"
    } else {
        $Py = Join-Path $Project ".venv\Scripts\python.exe"
        if (-not (Test-Path $Py)) {
            $Base = if ($env:PYTHON) { $env:PYTHON } else { "python" }
            & $Base $Installer --check
            if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
            & $Base -m venv (Join-Path $Project ".venv")
            if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
        }
    }
    & $Py $Installer @Rest
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
if ($HasNpm) {
    & node (Join-Path $BundleDir "ferry_npm.js") $Project
    exit $LASTEXITCODE
}
exit 0
