// Node side of `jtel-sf verify`: runs the pinned prettier + prettier-plugin-apex and the
// Salesforce Code Analyzer PMD engine, and prints plain JSON for the Python side to read.
//
// Usage: node runner.js <toolchain-dir> <command> [args]
//   format <filepath>                 Apex source on stdin -> formatted source on stdout
//   check [--write] <file>...         JSON {"files": [{"file", "formatted", "written", "error"}]}
//   pmd <java> <selector> <file>...   JSON {"violations": [...], "errors": [...], "logs": [...]}
//
// The packages are resolved from <toolchain-dir> (the cache jtel-sf installs into), not from
// this file's folder, so the script itself can live inside the Python package.
"use strict";
const { readFileSync, writeFileSync } = require("node:fs");
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
    const result = { file, formatted: false, written: false, error: null };
    try {
      const text = readFileSync(file, "utf8");
      const options = await prettierOptions(prettier, plugin, path.resolve(file));
      const output = await prettier.format(text, options);
      result.formatted = output === text;
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

async function pmd(javaCommand, selector, files) {
  const core = await load("@salesforce/code-analyzer-core");
  const pmdEngine = await load("@salesforce/code-analyzer-pmd-engine");
  const { CodeAnalyzer, CodeAnalyzerConfig, EventType, LogLevel } = core;
  const config = CodeAnalyzerConfig.fromObject({
    log_level: LogLevel.Error,
    engines: {
      pmd: { java_command: javaCommand },
      cpd: { disable_engine: true }
    }
  });
  const analyzer = new CodeAnalyzer(config);
  const logs = [];
  analyzer.onEvent(EventType.LogEvent, (event) => {
    if (event.logLevel <= LogLevel.Warn) logs.push({ level: event.logLevel, source: event.source, message: event.message });
  });
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
  const errors = results.getEngineNames().flatMap((name) => {
    const engineResults = results.getEngineRunResults(name);
    const insights = (engineResults.getInsights && engineResults.getInsights()) || {};
    return insights.processingErrors || [];
  });
  process.stdout.write(
    JSON.stringify({ rules: selection.getCount(), violations, errors, logs, tempFolder: null })
  );
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
