// Import direction (docs/architecture.md): cli -> services -> src, and inside
// src each stage of the data path may import earlier stages and runtime only.
// `npm run deps` checks the tree; test/unit/deps shows a violation caught.

/** src/ in data-path order; runtime is the floor every stage stands on. */
const STAGES = ['dataset', 'augment', 'model', 'compute', 'training', 'exchange', 'rpc', 'events'];

const stageRules = STAGES.map((stage, i) => ({
  name: `src-${stage}-imports-only-earlier-stages`,
  comment: `src/${stage} may import ${STAGES.slice(0, i).join(', ') || 'no other stage'} and runtime, not a later stage`,
  severity: 'error',
  from: { path: `^src/${stage}/` },
  to: { path: `^src/(${STAGES.slice(i + 1).join('|') || 'none'})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle makes load order and layering meaningless',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'library-imports-no-application',
      comment: 'src/ is the library: it never imports services/ or cli/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(services|cli)/' },
    },
    {
      name: 'runtime-is-the-floor',
      comment: 'src/runtime (logging, config, metrics, files) imports no other part of src',
      severity: 'error',
      from: { path: '^src/runtime/' },
      to: { path: '^src/', pathNot: '^src/runtime/' },
    },
    {
      name: 'services-import-no-cli',
      comment: 'services are started by cli/, never the other way round',
      severity: 'error',
      from: { path: '^services/' },
      to: { path: '^cli/' },
    },
    {
      name: 'services-import-no-other-service',
      comment: 'one service does not reach into another: what two share goes down into src/',
      severity: 'error',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^services/', pathNot: '^services/$1/' },
    },
    ...stageRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
