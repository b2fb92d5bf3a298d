// Model upload with XMLHttpRequest: fetch() cannot report upload progress, XHR can, and it can
// be cancelled half-way. The raw file is the body (application/octet-stream).
import { ApiError, CONSOLE_HEADER, errorMessage, notifyUnauthorized } from './api';
import type { Model } from './types';

export interface UploadHandle {
  promise: Promise<Model>;
  cancel: () => void;
}

export class UploadCancelled extends Error {
  constructor() {
    super('Upload cancelled.');
    this.name = 'UploadCancelled';
  }
}

export function uploadModel(
  name: string,
  file: Blob,
  onProgress: (loaded: number, total: number) => void,
): UploadHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<Model>((resolve, reject) => {
    xhr.open('POST', `/api/v1/models?name=${encodeURIComponent(name)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader(CONSOLE_HEADER, '1');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e: ProgressEvent) => {
      onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Model);
        } catch {
          reject(new ApiError(xhr.status, 'The server answered with something that is not a model description.'));
        }
        return;
      }
      if (xhr.status === 401) notifyUnauthorized();
      reject(new ApiError(xhr.status, errorMessage(xhr.status, xhr.responseText)));
    };
    xhr.onerror = () => reject(new ApiError(0, errorMessage(0, '')));
    xhr.onabort = () => reject(new UploadCancelled());
    xhr.send(file);
  });
  return { promise, cancel: () => xhr.abort() };
}
