// Offline npm install shipped inside every Ferry bundle that carries npm packages.
// Runs on the target with the target's own node and npm; no dependencies.
//
// npm ci --offline finds each tarball in its cache by the lock's integrity, so the bundled
// tarballs are first added to a private cache (`npm cache add` of local files needs no
// network), then `npm ci --offline` installs from that cache into the project directory.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

const EXIT_WRONG_TARGET = 3;
const EXIT_FAILED = 5;
const bundle = __dirname;

function fail(message, code) {
  process.stderr.write(`ferry: ${message}\n`);
  process.exit(code);
}

function hostLibc() {
  if (process.platform !== "linux") return null;
  const report = process.report && process.report.getReport ? process.report.getReport() : null;
  return report && report.header && report.header.glibcVersionRuntime ? "glibc" : "musl";
}

function checkTarget(target) {
  const major = process.versions.node.split(".")[0];
  const problems = [];
  if (major !== String(target.node)) problems.push(`Node ${target.node} (this is ${process.version})`);
  if (process.platform !== target.os) problems.push(`os ${target.os} (this is ${process.platform})`);
  if (process.arch !== target.cpu) problems.push(`cpu ${target.cpu} (this is ${process.arch})`);
  const libc = hostLibc();
  if (target.libc && libc && libc !== target.libc) problems.push(`libc ${target.libc} (this is ${libc})`);
  if (problems.length && !process.env.FERRY_IGNORE_TARGET) {
    fail(
      `this bundle's npm packages were made for ${problems.join(", ")}.\n` +
        "ferry: refusing to install; set FERRY_IGNORE_TARGET=1 to install anyway.",
      EXIT_WRONG_TARGET,
    );
  }
}

function npm(args, options) {
  // On Windows npm is a .cmd script, which only a shell can start.
  const result = spawnSync(process.platform === "win32" ? "npm.cmd" : "npm", args, {
    stdio: "inherit",
    shell: process.platform === "win32",
    ...options,
  });
  if (result.error) fail(`could not run npm: ${result.error.message}`, EXIT_FAILED);
  return result.status;
}

function prepareProject(project, section) {
  fs.mkdirSync(project, { recursive: true });
  const pkg = path.join(project, "package.json");
  if (!fs.existsSync(pkg)) fs.copyFileSync(path.join(bundle, section.package_json), pkg);
  const lock = path.join(project, "package-lock.json");
  const shrinkwrap = path.join(project, "npm-shrinkwrap.json");
  const bundled = fs.readFileSync(path.join(bundle, section.lock));
  if (!fs.existsSync(lock) && !fs.existsSync(shrinkwrap)) {
    fs.writeFileSync(lock, bundled);
    return;
  }
  // The project's own lock may lack tarball URLs (omit-lockfile-registry-resolved), which
  // an offline npm ci cannot do without; the bundled one is the same resolution with them.
  const existing = fs.existsSync(shrinkwrap) ? shrinkwrap : lock;
  const theirs = JSON.parse(fs.readFileSync(existing, "utf8"));
  const missing = Object.entries(theirs.packages || {}).some(([k, v]) => k && !v.resolved && !v.link);
  if (missing) {
    fs.copyFileSync(existing, existing + ".ferry-backup");
    fs.writeFileSync(existing, bundled);
    process.stderr.write(`ferry: ${path.basename(existing)} had no tarball URLs; replaced by the bundled lock (backup: ${path.basename(existing)}.ferry-backup)\n`);
  }
}

// Native addons' prebuilt binaries for this target, fetched at bundle time: each file goes
// where the package's own install tool (node-pre-gyp, prebuild-install) would put it.
function placePrebuilt(project, section) {
  for (const entry of section.prebuilt || []) {
    for (const at of entry.install_paths) {
      const base = path.resolve(project, at);
      for (const file of entry.files) {
        const to = path.resolve(base, file.to);
        const rel = path.relative(base, to);
        if (!rel || rel.startsWith("..") || path.isAbsolute(rel)) {
          fail(`${entry.package}: ${file.to} is outside the package folder`, EXIT_FAILED);
        }
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.copyFileSync(path.join(bundle, file.path), to);
      }
    }
    process.stderr.write(`ferry: placed the prebuilt binary of ${entry.package}@${entry.version} (${entry.tool})\n`);
  }
}

// prebuild-install looks in npm's cache before it downloads: <cache>/_prebuilds/<key>
function seedPrebuildCache(cache, section) {
  for (const entry of section.prebuilt || []) {
    if (entry.tool !== "prebuild-install") continue;
    const digest = crypto.createHash("sha512").update(entry.url).digest("hex").slice(0, 6);
    const base = path.basename(entry.url).replace(/[^a-zA-Z0-9.]+/g, "-");
    fs.mkdirSync(path.join(cache, "_prebuilds"), { recursive: true });
    fs.copyFileSync(path.join(bundle, entry.tarball), path.join(cache, "_prebuilds", `${digest}-${base}`));
  }
}

function main() {
  const checkOnly = process.argv[2] === "--check";
  const project = path.resolve((!checkOnly && process.argv[2]) || ".");
  const manifest = JSON.parse(fs.readFileSync(path.join(bundle, "manifest.json"), "utf8"));
  const section = manifest.npm;
  if (!section) return 0;
  checkTarget(section.target);
  if (checkOnly) return 0;
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-npm-cache-"));
  try {
    const dir = path.join(bundle, "npm-packages");
    // "./" keeps npm from reading a bare file name as a GitHub shorthand
    const tarballs = fs.readdirSync(dir).filter((f) => f.endsWith(".tgz")).map((f) => "./" + f);
    for (let i = 0; i < tarballs.length; i += 100) {
      const status = npm(["cache", "add", "--cache", cache, ...tarballs.slice(i, i + 100)], { cwd: dir });
      if (status !== 0) fail("npm could not add the bundled tarballs to its cache", EXIT_FAILED);
    }
    prepareProject(project, section);
    // the project's own .npmrc settings (legacy-peer-deps, engine-strict, …), which npm
    // would read from the project folder the bundle was made from; scripts stay Ferry's call
    const settings = Object.entries(section.install_settings || {})
      .filter(([key]) => key !== "ignore-scripts")
      .map(([key, value]) => `--${key}=${value}`);
    const common = ["--offline", "--cache", cache, "--no-audit", "--no-fund", ...settings];
    // scripts never run during npm ci: the prebuilt binaries must be in place first, or
    // their install tools would try to download them
    const args = ["ci", ...common, "--ignore-scripts"];
    if (section.omit_dev) args.push("--omit=dev");
    process.stderr.write(`ferry: installing ${tarballs.length} npm packages into ${project}\n`);
    let status = npm(args, { cwd: project });
    if (status !== 0) fail(`npm ci failed (exit ${status})`, EXIT_FAILED);
    placePrebuilt(project, section);
    if (process.env.FERRY_NPM_SCRIPTS) {
      seedPrebuildCache(cache, section);
      status = npm(["rebuild", ...common], { cwd: project });
      if (status !== 0) fail(`npm rebuild (the packages' install scripts) failed (exit ${status})`, EXIT_FAILED);
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
  return 0;
}

process.exit(main());
