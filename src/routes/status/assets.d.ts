// Stylesheets imported with `{ type: 'file' }` are paths (embedded in the compiled binary), not modules.
declare module '*.css' {
  const path: string
  export default path
}
