// Lint rules that carry security weight: no dynamic code anywhere, and only the
// supervisor may touch node:child_process (to fork the device gateway).
import tseslint from 'typescript-eslint';

const childProcess = {
  paths: [
    { name: 'child_process', message: 'Only src/supervisor/ may spawn processes.' },
    { name: 'node:child_process', message: 'Only src/supervisor/ may spawn processes.' },
    { name: 'vm', message: 'No dynamic code evaluation.' },
    { name: 'node:vm', message: 'No dynamic code evaluation.' },
    { name: 'worker_threads', message: 'Workers are not used; they could run code from strings.' },
    { name: 'node:worker_threads', message: 'Workers are not used; they could run code from strings.' },
  ],
};

const noDynamicCode = {
  'no-eval': 'error',
  'no-implied-eval': 'error',
  'no-new-func': 'error',
  'no-restricted-properties': ['error',
    { object: 'process', property: 'binding', message: 'No internal bindings.' },
    { object: 'process', property: 'dlopen', message: 'No native addons loaded by hand.' },
  ],
  'no-restricted-syntax': ['error',
    { selector: "CallExpression[callee.name='require']", message: 'ESM only.' },
    { selector: "ImportExpression[source.type!='Literal']", message: 'Dynamic import only with a literal specifier.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'tmp/**', 'bench/results/**', 'web/dist/**', 'data/**', '**/*.d.ts', 'src/protocol/commands/generated/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js', '**/*.tsx'],
    rules: {
      ...noDynamicCode,
      'no-restricted-imports': ['error', childProcess],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The supervisor forks the gateway; tests and scripts may start the real server process.
    files: ['src/supervisor/**/*.ts', '**/*.test.ts', 'test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: childProcess.paths.filter((p) => !p.name.includes('child_process')),
      }],
    },
  },
  {
    // The one worker thread: audit verification scans half the log on the
    // second core. It starts from its own module file (never `eval: true`).
    files: ['src/audit/verify-split.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: childProcess.paths.filter((p) => !p.name.includes('worker_threads')),
      }],
      'no-restricted-syntax': [...noDynamicCode['no-restricted-syntax'],
        { selector: "NewExpression[callee.name='Worker'] Property[key.name='eval']", message: 'Workers start from a module file only.' },
        { selector: "NewExpression[callee.name='Worker'] > :first-child:not(NewExpression[callee.name='URL'])", message: 'Workers start from a module file URL only.' },
      ],
    },
  },
);
