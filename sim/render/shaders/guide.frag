#version 330 core
// Flat colour with head-on shading; u_rim > 0 makes a silhouette (alpha rises where the surface turns edge-on),
// which draws the translucent colon as an outline as magnetic imagers do. Nearer parts are lighter (depth cue).
in vec3 v_normal_eye;
in float v_depth_eye;
uniform vec3 u_colour;
uniform float u_alpha;
uniform float u_rim;
uniform vec2 u_depth_range;   // eye depth of the nearest and farthest scene point
out vec4 frag_colour;
void main() {
    vec3 n = normalize(v_normal_eye);
    float facing = abs(n.z);
    float near = 1.0 - clamp((v_depth_eye - u_depth_range.x) / max(u_depth_range.y - u_depth_range.x, 1e-6), 0.0, 1.0);
    float shade = (0.45 + 0.55 * facing) * (0.65 + 0.35 * near);
    float alpha = u_alpha + u_rim * pow(1.0 - facing, 2.0);
    frag_colour = vec4(u_colour * shade, clamp(alpha, 0.0, 1.0));
}
