// Files imported with `{ type: 'file' }` are paths (embedded in the compiled binary), not modules.
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const path: string
  export default path
}
declare module 'swagger-ui-dist/swagger-ui.css' {
  const path: string
  export default path
}
