// Package weights loads Hugging Face component directories (config.json plus a safetensors
// checkpoint) into a model's parameters (slowai/nn/module), checking every tensor against what
// the model expects, and compares models with recorded golden tensors.
package weights

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ReadConfig decodes dir/config.json into v (a pointer to a config struct whose defaults are
// already set, so keys absent from the file keep them).
func ReadConfig(dir string, v any) error {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("weights: reading config: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("weights: %s: %w", path, err)
	}
	return nil
}

// weightFiles are the checkpoint names diffusers and transformers write, in preference order:
// full precision first, then the fp16 variant.
var weightFiles = []string{
	"diffusion_pytorch_model.safetensors",
	"model.safetensors",
	"diffusion_pytorch_model.fp16.safetensors",
	"model.fp16.safetensors",
}

// FindFile returns the checkpoint in dir. variant "" prefers the full-precision file and falls
// back to the fp16 one; variant "fp16" asks for the fp16 file only.
func FindFile(dir, variant string) (string, error) {
	var tried []string
	for _, name := range weightFiles {
		isFP16 := strings.HasSuffix(name, ".fp16.safetensors")
		if variant == "fp16" && !isFP16 {
			continue
		}
		if variant != "" && variant != "fp16" {
			return "", fmt.Errorf("weights: unknown variant %q (want \"\" or \"fp16\")", variant)
		}
		path := filepath.Join(dir, name)
		tried = append(tried, name)
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			return path, nil
		}
	}
	return "", fmt.Errorf("weights: no checkpoint in %s (looked for %s)", dir, strings.Join(tried, ", "))
}

// LoadConfig reads dir/config.json over defaults (see ReadConfig) and validates the result; a
// validation error names the component ("unet", "vae", ...) and the file.
func LoadConfig[C interface{ Validate() error }](dir, component string, defaults C) (C, error) {
	c := defaults
	if err := ReadConfig(dir, &c); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %s: %w", component, filepath.Join(dir, "config.json"), err)
	}
	return c, nil
}
