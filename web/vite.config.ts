/// <reference types="vitest" />
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The FastAPI server (`ferry serve`) serves dist/ at `/`, the REST API under /api and
// the task events at /ws. In development, Vite serves the UI and forwards those to it.
const backend = process.env.FERRY_BACKEND ?? 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      '/api': { target: backend, changeOrigin: true },
      '/health': { target: backend, changeOrigin: true },
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks(id) {
          if (!id.includes('node_modules')) return undefined;
          if (/node_modules\/(react|react-dom|scheduler)\//.test(id)) return 'react';
          return 'vendor';
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    testTimeout: 20000,
    pool: 'threads',
    // Vitest leaves a core free by default: on CI's two that is one worker for tests that
    // mostly render (Ant Design in jsdom). Two take 80 s where one takes 120.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
