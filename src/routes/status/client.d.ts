// client.js is imported with `{ type: 'file' }`: its value is a path (embedded in the compiled binary), not a module.
declare const path: string
export default path
