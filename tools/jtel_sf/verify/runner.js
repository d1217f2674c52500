// Node side of `jtel-sf verify`: runs the pinned prettier + prettier-plugin-apex and the
// Salesforce Code Analyzer PMD engine, and prints plain JSON for the Python side to read.
//
// Usage: node runner.js <toolchain-dir> <command> [args]
//   format <filepath>                 Apex source on stdin -> formatted source on stdout
//   check [--write] <file>...         JSON {"files": [{"file", "formatted", "written", "firstDifference", "error"}]}
//   pmd <java> <selector> <file>...   JSON {"rules", "violations", "processingErrors", "logs"}
//
// The packages are resolved from <toolchain-dir> (the cache jtel-sf installs into), not from
// this file's folder, so the script itself can live inside the Python package.
"use strict";
const { readFileSync, readdirSync, writeFileSync } = require("node:fs");
const os = require("node:os");
const { createRequire } = require("node:module");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const [toolchainDir, command, ...args] = process.argv.slice(2);
const requireFromToolchain = createRequire(path.join(toolchainDir, "package.json"));

async function load(name) {
  const module = await import(pathToFileURL(requireFromToolchain.resolve(name)).href);
  // CommonJS packages arrive as { default: module.exports }
  return module.default && !module.languages ? module.default : module;
}

// Options used when no .prettierrc applies to a file; the Python side passes the project's
// defaults in JTEL_SF_PRETTIER_DEFAULTS (JSON) so they are defined in one place.
const fallbackOptions = JSON.parse(process.env.JTEL_SF_PRETTIER_DEFAULTS || "{}");

async function prettierOptions(prettier, plugin, filepath) {
  const resolved = (await prettier.resolveConfig(filepath, { editorconfig: false })) || fallbackOptions;
  // Plugins named in a .prettierrc would be resolved next to that file, where nothing is
  // installed: always use the pinned plugin instead.
  const { plugins: _ignored, overrides: _overrides, ...options } = resolved;
  return { ...options, parser: "apex", filepath, plugins: [plugin] };
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function format(filepath) {
  const prettier = await load("prettier");
  const plugin = await load("prettier-plugin-apex");
  const text = await readStdin();
  const options = await prettierOptions(prettier, plugin, path.resolve(filepath));
  process.stdout.write(await prettier.format(text, options));
}

async function check(files) {
  const write = files[0] === "--write";
  if (write) files = files.slice(1);
  const prettier = await load("prettier");
  const plugin = await load("prettier-plugin-apex");
  const results = [];
  for (const file of files) {
    const result = { file, formatted: false, written: false, firstDifference: null, error: null };
    try {
      const text = readFileSync(file, "utf8");
      const options = await prettierOptions(prettier, plugin, path.resolve(file));
      const output = await prettier.format(text, options);
      result.formatted = output === text;
      if (!result.formatted) result.firstDifference = firstDifferentLine(text, output);
      if (write && !result.formatted) {
        writeFileSync(file, output, "utf8");
        result.written = true;
      }
    } catch (err) {
      result.error = String((err && err.message) || err).split("\n")[0];
    }
    results.push(result);
  }
  process.stdout.write(JSON.stringify({ files: results }));
}

function firstDifferentLine(a, b) {
  const left = a.split("\n");
  const right = b.split("\n");
  let i = 0;
  while (i < left.length && i < right.length && left[i] === right[i]) i++;
  return i + 1;
}

async function pmd(javaCommand, selector, files) {
  const core = await load("@salesforce/code-analyzer-core");
  const pmdEngine = await load("@salesforce/code-analyzer-pmd-engine");
  const { CodeAnalyzer, CodeAnalyzerConfig, EventType, LogLevel } = core;
  // The analyzer works (and leaves its files) under os.tmpdir(): the Python side points
  // TMPDIR at a folder of its own and removes it afterwards.
  const config = CodeAnalyzerConfig.fromObject({
    log_level: LogLevel.Error,
    engines: {
      pmd: { java_command: javaCommand },
      cpd: { disable_engine: true }
    }
  });
  const before = new Set(analyzerTempFolders());
  const analyzer = new CodeAnalyzer(config);
  const logs = [];
  const keepLog = (event) => {
    if (event.logLevel <= LogLevel.Warn) logs.push({ level: event.logLevel, message: event.message });
  };
  analyzer.onEvent(EventType.LogEvent, keepLog);
  analyzer.onEvent(EventType.EngineLogEvent, keepLog);
  await analyzer.addEnginePlugin(pmdEngine.createEnginePlugin());
  const workspace = await analyzer.createWorkspace(files);
  const selection = await analyzer.selectRules([selector], { workspace });
  const results = await analyzer.run(selection, { workspace });
  const violations = results.getViolations().map((violation) => {
    const rule = violation.getRule();
    const location = violation.getPrimaryLocation();
    return {
      engine: rule.getEngineName(),
      rule: rule.getName(),
      severity: rule.getSeverityLevel(),
      message: violation.getMessage(),
      file: location.getFile() || null,
      line: location.getStartLine() || null,
      column: location.getStartColumn() || null
    };
  });
  // PMD's processing errors (files it could not parse or analyse) reach the API only as log
  // lines; the engine's own results file has them structured.
  const processingErrors = [];
  const ours = analyzerTempFolders().filter((folder) => !before.has(folder));
  for (const resultsFile of ours.flatMap((folder) => findFiles(folder, "resultsFile.json"))) {
    const data = JSON.parse(readFileSync(resultsFile, "utf8"));
    for (const error of data.processingErrors || []) {
      processingErrors.push({ file: error.file, message: String(error.message || "") });
    }
  }
  process.stdout.write(
    JSON.stringify({ rules: selection.getCount(), violations, processingErrors, logs })
  );
}

function analyzerTempFolders() {
  return readdirSync(os.tmpdir())
    .filter((name) => name.startsWith("code-analyzer-"))
    .map((name) => path.join(os.tmpdir(), name));
}

function findFiles(dir, name, found = []) {
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) findFiles(full, name, found);
    else if (entry.name === name) found.push(full);
  }
  return found;
}

const commands = {
  format: () => format(args[0]),
  check: () => check(args),
  pmd: () => pmd(args[0], args[1], args.slice(2))
};

if (!commands[command]) {
  process.stderr.write(`unknown command: ${command}\n`);
  process.exit(2);
}
commands[command]().catch((err) => {
  process.stderr.write(`${(err && err.stack) || err}\n`);
  process.exit(1);
});
