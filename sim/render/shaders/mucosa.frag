#version 330 core
// Wet mucosa lit only by the scope's two light guides beside the lens.
// Irradiance falls off with the square of the distance (so the lumen far ahead is dark), diffuse with a little
// wrap (light scattered under the surface), and a sharp specular lobe from the mucus film plus a Fresnel rise at
// grazing angles. Tone mapping acts on luminance only, so a very close wall stays red instead of turning white.
in vec3 v_world;
in vec3 v_normal;
in vec3 v_param;
uniform sampler2D u_albedo;
uniform vec3 u_camera;
uniform vec3 u_light0;
uniform vec3 u_light1;
uniform float u_light_power;    // irradiance scale: 1 at u_light_power = distance^2 (m^2) from one guide
uniform float u_exposure;
uniform float u_around_repeats; // texture tiles around the lumen (a whole number: no seam)
uniform float u_along_tile_m;   // texture tile length along the lumen (m)
out vec4 frag_colour;

const float TWO_PI = 6.28318530718;

// Returns (diffuse rgb, specular) of one guide; they are tone-mapped apart (see main).
vec4 light(vec3 pos, vec3 n, vec3 v, vec3 albedo) {
    vec3 ld = pos - v_world;
    float d2 = max(dot(ld, ld), 1e-8);
    vec3 l = ld * inversesqrt(d2);
    float irradiance = u_light_power / d2;
    float wrap = max((dot(n, l) + 0.15) / 1.15, 0.0);
    vec3 h = normalize(l + v);
    float nh = max(dot(n, h), 0.0);
    float fresnel = 0.03 + 0.97 * pow(1.0 - max(dot(n, v), 0.0), 5.0);
    float spec = (0.5 * pow(nh, 150.0) + 0.04 * pow(nh, 16.0)) * (0.4 + fresnel);
    return irradiance * vec4(albedo * wrap, spec);
}

void main() {
    // Angle around from the interpolated (cos, sin); of the two branch cuts keep the one without a jump here
    // (Tarini's trick), so the seam where theta wraps neither smears nor shows a mip line.
    float a1 = atan(v_param.y, v_param.x) / TWO_PI;
    float a2 = fract(a1);
    float u = (fwidth(a1) <= fwidth(a2) + 1e-7) ? a1 : a2;
    vec2 uv = vec2(u * u_around_repeats, v_param.z / u_along_tile_m);
    vec3 albedo = pow(texture(u_albedo, uv).rgb, vec3(2.2));
    vec3 n = normalize(v_normal);
    vec3 v = normalize(u_camera - v_world);
    if (dot(n, v) < 0.0) n = -n;   // the mesh's normals point out of the lumen; we look from inside
    vec4 lit = 0.5 * (light(u_light0, n, v, albedo) + light(u_light1, n, v, albedo)) * u_exposure;
    // Diffuse: Reinhard on luminance, then scaled down (not clipped) when a channel passes 1, so the hue of the
    // tissue survives any brightness (a wall at the lens is bright red, not white). Specular: white glints of the
    // mucus film, compressed on their own and added.
    vec3 c = lit.rgb;
    float lum = dot(c, vec3(0.2126, 0.7152, 0.0722));
    c *= 1.3 * (lum / (0.35 + lum)) / max(lum, 1e-6);
    c /= max(1.0, max(c.r, max(c.g, c.b)));
    c = clamp(c + vec3(lit.a / (1.0 + lit.a)), 0.0, 1.0);
    frag_colour = vec4(pow(c, vec3(1.0 / 2.2)), 1.0);
}
