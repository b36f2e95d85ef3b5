export * from './egress/index.ts';
export * from './errors.ts';
export { isServerName, PREVIEW_SEPARATOR, SERVER_NAME, SERVER_NAME_MESSAGE } from './names.ts';
export {
  type FeedProblem,
  type FieldChoices,
  feedProblems,
  fieldChoices,
  fieldProblems,
  fieldsOf,
  inWords,
  MAX_VIEW_TOOLS,
  PATTERN_TITLES,
  renderView,
  VIEW_PATTERNS,
  type ViewFields,
  type ViewPattern,
  type ViewRequest,
} from './patterns.ts';
export {
  manifestText,
  PINNED_DEPENDENCIES,
  PINNED_DEV_DEPENDENCIES,
  type RenderExtras,
  render,
  WORKFLOW_PATH,
} from './render.ts';
export { MAX_SPANS, SPANS_HEADER } from './runtime/trace.ts';
export {
  formatPath,
  type Manifest,
  type ManifestInput,
  manifestFieldsSchema,
  manifestOf,
  manifestSchema,
  parseManifest,
  parseServerSpec,
  type ServerSpec,
  type ServerSpecInput,
  type ServerTool,
  serverSpecSchema,
  TOOL_NAME,
  type ToolAnnotations,
  type ToolSpec,
  toolSpecSchema,
  UI_ORIGIN,
  UI_URI,
  type UiResource,
  type UiResourceMeta,
  uiResourceSchema,
  validateManifest,
} from './spec.ts';
export {
  findTemplate,
  type HttpJsonOptions,
  renderTemplate,
  TEMPLATE_FILES_ROOT,
  type Template,
  templateFiles,
  templates,
} from './templates/index.ts';
export {
  COMPILER_OPTIONS,
  tsconfigText,
  VIEW_COMPILER_OPTIONS,
  VIEW_TSCONFIG_PATH,
  VIEW_TYPECHECK_SCRIPT,
  viewTsconfigText,
  withViewTypecheck,
} from './tsconfig.ts';
export {
  integrityOf,
  RUNTIME_PACKAGE,
  RUNTIME_VERSION,
  VENDORED_RUNTIME_PATH,
  VENDORED_RUNTIME_SPEC,
} from './vendor.ts';
