package deploy_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// TestTerraformParses parses deploy/terraform/azure with HashiCorp's HCL
// parser and checks that the strategy's resources are declared. This is a
// syntax check only: terraform (and the azurerm provider's schema) is not
// available here, so nothing is planned, validated against the provider or
// applied (deploy/README.md says so).
func TestTerraformParses(t *testing.T) {
	files, _ := filepath.Glob("terraform/azure/*.tf")
	if len(files) == 0 {
		t.Fatal("no .tf files")
	}
	parser := hclparse.NewParser()
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "terraform"}, {Type: "provider", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}}, {Type: "output", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"type", "name"}}, {Type: "data", LabelNames: []string{"type", "name"}},
		{Type: "locals"},
	}}
	resources := map[string]bool{}
	variables := map[string]bool{}
	for _, f := range files {
		file, diags := parser.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		content, diags := file.Body.Content(schema)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		for _, b := range content.Blocks {
			switch b.Type {
			case "resource":
				resources[b.Labels[0]] = true
			case "variable":
				variables[b.Labels[0]] = true
			}
		}
	}
	for _, want := range []string{"azurerm_resource_group", "azurerm_kubernetes_cluster", "azurerm_kubernetes_cluster_node_pool",
		"azurerm_postgresql_flexible_server", "azurerm_redis_cache", "azurerm_storage_account", "azurerm_log_analytics_workspace",
		"azurerm_container_registry"} {
		if !resources[want] {
			t.Errorf("no %s declared", want)
		}
	}
	// Every var.X used is declared.
	for _, f := range files {
		src := readFile(t, f)
		for _, part := range strings.Split(src, "var.")[1:] {
			name := strings.FieldsFunc(part, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') })[0]
			if !variables[name] {
				t.Errorf("%s: var.%s is not declared", f, name)
			}
		}
	}
	var names []string
	for r := range resources {
		names = append(names, r)
	}
	sort.Strings(names)
	t.Logf("resource types: %s", strings.Join(names, ", "))
}
