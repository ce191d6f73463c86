// The one place that picks the image provider from the configuration (IMAGE_PROVIDER).
import type { Config } from '../../config.js';
import type { ImageProvider } from './image-provider.js';
import { createLocalImageProvider } from './local.js';
import { createReplicateImageProvider } from './replicate.js';

export function createImageProvider(config: Config): ImageProvider {
  switch (config.image.provider) {
    case 'local':
      return createLocalImageProvider();
    case 'replicate': {
      const { apiToken, model, apiUrl, timeoutMs } = config.image.replicate;
      return createReplicateImageProvider({ apiToken, model, baseUrl: apiUrl, timeoutMs });
    }
  }
}
