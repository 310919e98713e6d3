// ESLint (flat config): the recommended rules, which catch bugs (undefined names, unused
// variables, unreachable code, duplicate keys, assignments to constants, ...) rather than style,
// with the globals each file really has in the context it runs in. tests/run.sh runs it next to
// ruff (npx eslint .), and so does CI.
import js from '@eslint/js';
import globals from 'globals';

// Modules that both the page and a worker import may use only what both contexts have.
const pageAndWorker = Object.fromEntries(
  Object.entries(globals.browser).filter(([name]) => name in globals.worker),
);
// The web/lib/ modules a worker imports (the protocol, colouring, EXIF). A web/lib/ module that
// a worker starts importing belongs in this list.
const sharedWithWorkers = ['web/lib/engine-protocol.js', 'web/lib/colorize.js', 'web/lib/exif.js'];

export default [
  {
    // Built (build.py stages into .NAME.building-*/), installed or vendored: not ours to lint.
    ignores: [
      'dist/', '.*.building-*/', 'build/', 'node_modules/', '.venv/', 'test-artifacts/',
      '**/vendor/',
    ],
  },
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      // An unused catch binding or a leading-underscore argument is deliberate.
      'no-unused-vars': ['error', { caughtErrors: 'none', argsIgnorePattern: '^_' }],
      // `catch {}`: a best-effort step (closing a handle) whose failure changes nothing.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Beyond the recommended set, bugs too: a map/filter callback that returns nothing, x !== x,
      // "${x}" in a plain string, a loop that cannot loop twice, a const/let/class read before
      // its declaration in the same scope (a temporal-dead-zone ReferenceError).
      'array-callback-return': 'error',
      'no-self-compare': 'error',
      'no-template-curly-in-string': 'error',
      'no-unreachable-loop': 'error',
      'no-constructor-return': 'error',
      'no-use-before-define': ['error', { functions: false, classes: false, variables: false }],
    },
  },
  // Pages: the app's UI thread, the widget, the public API and the page-side shared rooms.
  {
    files: ['web/app/**/*.js', 'web/embed/**/*.js', 'web/lib/**/*.js'],
    ignores: ['web/**/*-worker.js', ...sharedWithWorkers],
    languageOptions: { globals: globals.browser },
  },
  // Workers: the engine worker and the paint worker.
  {
    files: ['web/worker/**/*.js', 'web/**/*-worker.js'],
    languageOptions: { globals: globals.worker },
  },
  // What both import: only the globals both have (flat config merges globals, so these files
  // are left out of the blocks above).
  {
    files: sharedWithWorkers,
    languageOptions: { globals: pageAndWorker },
  },
  // The service worker: a classic script (build.py prepends self.PRECACHE to it).
  {
    files: ['web/sw/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.serviceworker },
  },
  // Node: the build's Python trace, test and benchmark helpers, this file.
  {
    files: ['**/*.mjs', 'eslint.config.js'],
    ignores: ['bench/quantize/bench.mjs'],
    languageOptions: { globals: globals.node },
  },
  // Benchmark pages run in the browser: transformers.js's page, onnxruntime-web's timing page.
  {
    files: ['bench/peer/**/*.js', 'bench/quantize/bench.mjs'],
    languageOptions: { globals: globals.browser },
  },
];
