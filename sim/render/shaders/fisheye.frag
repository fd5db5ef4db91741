#version 330 core
// Equidistant fisheye (image radius proportional to the angle off the optical axis, r = f * theta), the usual
// model for wide-angle endoscope lenses, sampled from the cube map rendered around the tip camera.
// The image is the circle real scopes show; outside it is black. u_redout blends toward the uniform red glow of a
// lens pressed on the mucosa.
uniform samplerCube u_cube;
uniform vec2 u_origin_px;      // viewport origin in the framebuffer
uniform vec2 u_centre_px;      // image centre within the viewport
uniform float u_radius_px;     // image circle radius
uniform float u_half_fov_rad;  // angle at the circle's edge
uniform float u_redout;
out vec4 frag_colour;
void main() {
    vec2 p = gl_FragCoord.xy - u_origin_px - u_centre_px;
    float r = length(p) / u_radius_px;
    if (r > 1.0) { frag_colour = vec4(0.0, 0.0, 0.0, 1.0); return; }
    float theta = r * u_half_fov_rad;
    float phi = atan(p.y, p.x);
    vec3 d = vec3(sin(theta) * cos(phi), sin(theta) * sin(phi), cos(theta));  // x right, y up, z forward
    vec3 c = texture(u_cube, d).rgb;
    float lum = dot(c, vec3(0.2126, 0.7152, 0.0722));
    vec3 red = vec3(0.78, 0.10, 0.07) * (0.75 + 0.35 * lum);
    c = mix(c, red, clamp(u_redout, 0.0, 1.0));
    c *= smoothstep(1.0, 0.98, r);   // soft edge of the image circle
    frag_colour = vec4(c, 1.0);
}
