// @bull-board/ui's files are imported with `{ type: 'file' }` (ui-files.ts): each is a path (embedded in the compiled binary), not a module.
declare module '@bull-board/ui/dist/*' {
  const path: string
  export default path
}
