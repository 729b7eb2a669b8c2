import { defineConfig } from 'vite';

// The admin UI: static files served by Weir at /admin (no Node code at runtime).
export default defineConfig({
  root: 'admin',
  base: '/admin/',
  build: { outDir: '../dist/admin', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
});
