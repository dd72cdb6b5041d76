package officialtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Actions stands in for GitHub Actions' OIDC token service on 127.0.0.1:
// an OIDC issuer (discovery document and JWKS) and the token request
// endpoint a workflow step calls (ACTIONS_ID_TOKEN_REQUEST_URL, with
// ACTIONS_ID_TOKEN_REQUEST_TOKEN), which `mcp-publisher login github-oidc`
// uses. Tokens are RS256, as GitHub's.
type Actions struct {
	// Issuer is the issuer URL (the server's base URL).
	Issuer string
	// Owner and Repository are the claims of the tokens the request
	// endpoint hands out (repository_owner, repository).
	Owner, Repository string

	key          *rsa.PrivateKey
	signer       jose.Signer
	requestToken string
}

// StartActions starts the issuer for repository owner/repo; it stops when
// the test ends.
func StartActions(t testing.TB, owner, repo string) *Actions {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "actions-1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	a := &Actions{Owner: owner, Repository: owner + "/" + repo, key: key, signer: signer, requestToken: rand.Text()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": a.Issuer, "jwks_uri": a.Issuer + "/.well-known/jwks",
			"subject_types_supported": []string{"public"}, "response_types_supported": []string{"id_token"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "actions-1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+a.requestToken {
			http.Error(w, "bad request token", http.StatusUnauthorized)
			return
		}
		tok, err := a.sign(map[string]any{"aud": r.URL.Query().Get("audience")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]string{"value": tok})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.Issuer = srv.URL
	return a
}

// Token signs a token with the claims of a workflow run of the repository
// on main (iss, sub, repository_owner, repository, ref, iat, nbf, exp in
// five minutes), changed by with (a nil value removes a claim).
func (a *Actions) Token(t testing.TB, with map[string]any) string {
	t.Helper()
	raw, err := a.sign(with)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (a *Actions) sign(with map[string]any) (string, error) {
	now := time.Now()
	claims := map[string]any{
		"iss":              a.Issuer,
		"sub":              "repo:" + a.Repository + ":ref:refs/heads/main",
		"repository_owner": a.Owner,
		"repository":       a.Repository,
		"ref":              "refs/heads/main",
		"iat":              now.Unix(),
		"nbf":              now.Add(-time.Minute).Unix(),
		"exp":              now.Add(5 * time.Minute).Unix(),
	}
	maps.Copy(claims, with)
	for k, v := range claims {
		if v == nil {
			delete(claims, k)
		}
	}
	return jwt.Signed(a.signer).Claims(claims).Serialize()
}

// Env is what a workflow step with `id-token: write` sees.
func (a *Actions) Env() []string {
	return []string{
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + a.Issuer + "/token?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + a.requestToken,
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
